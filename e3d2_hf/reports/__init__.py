"""What the recipes and the demo write for a reader: reports, tables, plots."""

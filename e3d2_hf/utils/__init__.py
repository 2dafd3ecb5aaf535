"""The ground floor: errors, value ranges, owned output folders, shipped folders, flags and the
markdown table renderer. Everything else in the package may import these; they import nothing
of it."""

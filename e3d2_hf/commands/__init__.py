"""The `e3d2` commands that are not training stages: each module holds the command's options
(a dataclass, the one definition of its flags) and `run(args) -> exit status`; its docstring's
first line is the command's one-line help, the rest its description."""

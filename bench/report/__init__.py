"""What bench/run.py writes into RESULTS.md, one module per section; figures are measured elsewhere."""


def fmt(value, digits=0):
    return f"{value:,.{digits}f}" if isinstance(value, (int, float)) else "not measured"


def met(ok):
    return "met" if ok else "**not met**"

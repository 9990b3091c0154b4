"""Log-log panels side by side, saved as a PNG (the scale benchmarks' plots)."""

from typing import Sequence

# One line: (label, x values, y values, matplotlib format string).
Series = tuple[str, Sequence[float], Sequence[float], str]


def save(path: str, panels: Sequence[tuple[str, Sequence[Series]]], xlabel: str) -> None:
  """Writes one log-log panel per `(title, series)` to `path`."""
  from matplotlib.backends import backend_agg  # pylint: disable=g-import-not-at-top
  from matplotlib import figure  # pylint: disable=g-import-not-at-top
  fig = figure.Figure(figsize=(5 * len(panels), 4))
  backend_agg.FigureCanvasAgg(fig)
  for axis, (title, series) in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels):
    for label, x, y, style in series:
      axis.plot(x, y, style, label=label)
    axis.set_xscale('log')
    axis.set_yscale('log')
    axis.set_xlabel(xlabel)
    axis.set_title(title)
    axis.grid(True, which='both', alpha=0.3)
    axis.legend(fontsize=7, ncol=2 if len(series) > 8 else 1)
  fig.tight_layout()
  fig.savefig(path, dpi=100)

"""Training code for basewatch's own detectors (extra ``[train]``: PyTorch CPU and onnx).

:mod:`basewatch.train.aircraft` needs PyTorch; the label readers (``labels``), scoring
(``evaluate``), simulated data (``simulated``) and the command runner (``run``, which checks
for PyTorch and says what to install) work without it.
"""

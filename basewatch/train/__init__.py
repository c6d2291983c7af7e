"""Training code for basewatch's own detectors (extra ``[train]``: PyTorch CPU and onnx).

:mod:`basewatch.train.centernet` is the network, loss, batch maker and ONNX export shared by
:mod:`basewatch.train.aircraft` (sub-metre aircraft) and :mod:`basewatch.train.ships`
(Sentinel-2 ships); these need PyTorch. The label readers (``labels``), scoring
(``evaluate``), simulated data (``simulated``) and the command runner (``run``, which checks
for PyTorch and says what to install) work without it.
"""

"""Analysis tools a user runs on their own data: evaluation reports with plots (``voicelive eval``),
clustering of unlabelled recordings (``voicelive cluster``), and a microphone-drift monitor
(``voicelive drift``). The metrics come from :mod:`voicelive.evaluation.metrics` (the same code as
``voicelive bench``). No Qt here; the GUI parts live in :mod:`voicelive.gui.live_analysis`.
"""

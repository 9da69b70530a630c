"""Kiosk mode: a door-access demo that opens only for enrolled voices and keeps an access log.

Qt-free logic: :mod:`~voicelive.kiosk.access` (the door state machine), :mod:`~voicelive.kiosk.door`
(actuators), :mod:`~voicelive.kiosk.pin` (admin PIN), :mod:`~voicelive.kiosk.session` (pipeline +
door + log). The screen: :mod:`~voicelive.kiosk.window` and :mod:`~voicelive.kiosk.app` (Qt).
"""

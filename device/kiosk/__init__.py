"""The kiosk page shown on the dispenser's screen."""

"""Wire contracts shared by the backend and the dispenser.

Nothing here imports Flask, the backend or the device: both sides import this package.
"""

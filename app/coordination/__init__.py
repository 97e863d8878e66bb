"""Coordination between automation and humans: the swap lock, the swap-event webhook and the
read-only schedule registry (the contract is the coordination seed, followed to the letter)."""

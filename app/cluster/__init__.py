"""Talking to the Sparks: SSH transport (``ssh``), remote command builders (``commands``),
``nvidia-smi`` parsing (``gpu``) and the appliance's SSH identity (``keys``)."""

"""The routing rule language: YAML rules that turn a call (DNIS, ANI, the customer's tier, IVR
choices, time, load) into a routing request, with an explanation of which rule matched."""

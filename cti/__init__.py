"""Computer-telephony integration: the HTTP/WebSocket server for agent desktops, supervisors,
wallboards and admins, with authentication and per-agent visibility."""

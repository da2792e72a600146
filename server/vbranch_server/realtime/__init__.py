"""Real-time calls: the Socket.IO server, the routing store and the CRM behind the call hub."""

"""vbranch signaling: Socket.IO namespaces, event schemas and call sessions."""

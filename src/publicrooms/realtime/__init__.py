"""Socket.IO transport: the lobby namespace and one namespace per room; thin handlers over services."""

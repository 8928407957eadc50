"""Use cases: users, rooms, chat. Transport-free; they raise domain errors and broadcast facts."""

// Integration tests start real servers and processes: give them room.
jest.setTimeout(120_000);

"""The pure routing policy: matching, priorities, offers and statistics. No I/O, no asyncio."""

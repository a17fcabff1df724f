"""Benchmark programs comparing shoal with greenlet, gevent, asyncio and trio."""

"""The system's processes: one package per service, each a thin asyncio shell around pure modules."""

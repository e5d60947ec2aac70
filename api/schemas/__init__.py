"""Request bodies as the SPA sends them (camelCase, its field names), one module per
context. Routers validate a body against its schema and translate it into a command
(``commands``); nothing below the API sees the SPA's spelling."""

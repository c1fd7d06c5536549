"""The request path: the middleware (one pass per request), the route templates that label it,
the client's address behind trusted proxies, and the bearer check of the toolkit's endpoints."""

"""HTTP: pages, JSON APIs and the middlewares that guard them."""

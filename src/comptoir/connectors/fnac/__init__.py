"""Fnac marketplace connector (XML API) and its local simulator."""

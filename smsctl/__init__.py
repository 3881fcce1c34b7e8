"""A small producer CLI and library: put SMS requests on a gateway's queue and read their status."""

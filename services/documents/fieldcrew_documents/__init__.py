"""The documents service: the customer's PDF of a server report, and share links to it."""

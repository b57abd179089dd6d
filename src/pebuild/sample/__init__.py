"""The built-in synthetic WinPE source: an ADK-shaped kit whose boot programs are tiny real programs."""

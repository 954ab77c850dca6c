"""edgekws."""

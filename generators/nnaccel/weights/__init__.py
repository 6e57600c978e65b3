"""Weight images: exact quantisation to HLS types and the dense weight image format."""

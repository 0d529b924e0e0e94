"""The inspector's tool: decode QR codes from images, video and camera; verify; report."""

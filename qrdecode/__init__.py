"""QR codes in images and in the files that carry them, shared by the scanner and the service.

The decode cascade is OpenCV, zxing-cpp and zbar's, so it lives here rather than in keys/, which imports
no vision library; scanner/ and verify_api/ both import it (docs/architecture.md, "The image decoder").
"""

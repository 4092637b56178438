"""forensics: offline network forensics for IoT packet captures.

Pipeline (one module per stage): capture -> decode -> flows -> features ->
sequences -> detect -> report.  See README.md.
"""

__version__ = "0.1.0"

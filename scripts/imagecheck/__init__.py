"""`make image-check`: build the StartOS image and run it against the Spark simulator."""

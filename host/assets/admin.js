/* The operator console: see the next commit. */

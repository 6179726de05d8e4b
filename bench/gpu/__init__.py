"""The GPU check (check.sh) and its parts, written to run with torch and a few carried wheels (no pyarrow)."""

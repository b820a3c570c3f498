"""rootwatch: monitor of AWS root-user activity."""

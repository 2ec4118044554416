"""The credentials resource: secret files under /etc/checkpoint/credentials and their manifest."""

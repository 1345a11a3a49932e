"""The command-line apps: thin Hydra entry points over the layers below."""

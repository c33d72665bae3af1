"""The throwaway veth lab (`netns`) that demos, tests and the bench build, and the demo that runs in it."""

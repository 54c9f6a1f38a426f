"""madoguchi core: the framework-free domain."""

"""posebook.body"""

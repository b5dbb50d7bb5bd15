"""posebook.geometry"""

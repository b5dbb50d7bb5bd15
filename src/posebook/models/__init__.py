"""posebook.models"""

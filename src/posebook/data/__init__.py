"""posebook.data"""

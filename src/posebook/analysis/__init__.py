"""posebook.analysis"""

"""posebook.optim"""

"""posebook.diffusion"""

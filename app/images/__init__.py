"""Images: visibility, names, sharing, deletion, and import inspection."""

"""The SOUSAphone console. It reads run directories and never imports torch."""

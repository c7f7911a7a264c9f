/* Placeholder: the tests of frame land with it. */
int main(void)
{
	return 0;
}
